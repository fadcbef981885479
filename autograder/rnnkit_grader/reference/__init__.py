"""Probes that only the reference child may import (they may hold correct implementations).

The reference child runs the reference solution; where a suite needs the kit's own
model, training loop or decoder (to build a model config for the student's child, to
name the slip that explains a student's result, to measure a student's trained
weights on held-out data), the probe lives here. The student's sandbox never binds
this package in; a kit test checks that nothing under `rnnkit_child` implements a
graded unit and that this package is unreachable from the student's child.
"""
