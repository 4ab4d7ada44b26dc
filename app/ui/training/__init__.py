"""The Training tab: portfolio, profiles, hyperparameters, the run (out of process), versions."""
