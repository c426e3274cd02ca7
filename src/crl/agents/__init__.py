"""Agents: pure init / update / act functions over explicit train state."""
