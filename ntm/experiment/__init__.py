"""Running experiments: the config schema and its checks, building objects by name, the
training loop and its state, checkpoints, run directories and threads."""
