"""edgeprune: prune, distil, export and benchmark a PyTorch model for an edge device."""
__version__ = "0.1.0"
