"""Training library: data, models, trainers and CLIs (work in progress)."""
