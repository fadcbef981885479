"""Example-submission variants, one module per assignment (tools/make_examples.py)."""
