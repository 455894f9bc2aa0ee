"""Rehearsal: run a paper recipe end to end on a CPU in minutes, with the same stage code and settings, substituting
only scale (tiny random models of the real architectures, fixture rows in the real dataset schemas, CPU engines,
small counts). See docs/SCALING.md ("Rehearsal") and `hala run RECIPE --rehearse`."""

from hala.rehearse.checks import run_checks
from hala.rehearse.transform import rehearse

__all__ = ["rehearse", "run_checks"]
