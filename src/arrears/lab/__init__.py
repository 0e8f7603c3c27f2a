"""The strategy lab: history → roll, cure and vintage; scores; calibrated simulator; optimiser."""
