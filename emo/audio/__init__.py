"""Audio: reading signals, the front ends, the recording-chain augmentation, and featurize."""
