"""`emo predict`: the trained models applied to new audio and video files, with the pipeline's own preprocessing.

A wav/flac (or an mp4 with sound only) goes to an audio model, a video-only mp4 to the video model, an audio-video
pair (or an audio-video mp4) to the fusion model. Files are read by `media`; features are computed by the
pipeline's functions with params.yaml's `audio` and `video` sections, and normalised with the statistics in the
model's split file, as at training (`model`); `jobs` is what was asked, `speakers` groups it by speaker
(--speakers), `run` does it a speaker group at a time (`store` keeps a group's features, on disk when it is big),
`output` prints it as the results come.
"""
