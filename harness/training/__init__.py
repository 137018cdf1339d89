"""The shared contrastive trainer, its step and state, training pairs and R2P data."""
