"""The models: the Neural Turing Machine and the LSTM baseline, built from ``ntm.math``."""
