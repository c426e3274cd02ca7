"""Experiments at scale: sweeps over datasets x agents x variants x seeds, reports, paper tables."""
