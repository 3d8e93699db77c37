"""Faces and video: frame reading, face detection and crops, face augmentation, embedders (mini-Xception, VGG19)."""
