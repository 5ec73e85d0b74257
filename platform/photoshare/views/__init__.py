"""Blueprints: auth (accounts), gallery (photos and albums), health."""
