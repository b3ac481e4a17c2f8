"""Formula recognition: data, LaTeX metrics, validity checking."""
