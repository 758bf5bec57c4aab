"""The evaluations' pure core (no Django): dictionary quality metrics, frontiers and feature matching."""
