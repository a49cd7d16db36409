"""Plots (matplotlib + mplhep) and reports."""
