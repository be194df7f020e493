"""Reference Pareto fronts of the bundled design benchmark problems (see README.md here)."""
