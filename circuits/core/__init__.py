"""The circuits' pure core (no Django): virtual weights, attribution graphs, pruning and interventions."""
