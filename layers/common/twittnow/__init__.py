"""Twittnow's common layer: settings, API plumbing, auth, repositories and clients."""
