"""Course tooling, not course content: releasing and grading (classroom, the sandbox, nbgrader
hardening), executing the solution notebooks, the offline book assets and the benchmarks."""
