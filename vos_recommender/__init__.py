"""Learned frame recommendation for interactive VOS."""
