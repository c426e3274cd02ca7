"""Datasets: names and locations, loading and validation, local generation, on-device sampling."""
