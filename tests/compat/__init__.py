"""Compatibility suite: real provider SDKs and instrumentations through llmpulse."""
