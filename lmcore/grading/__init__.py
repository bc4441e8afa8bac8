"""Grading: checks that run a student's component inside lmcore's reference code.

Where to find things, one hop each (``registry.PARTS[part_id]`` is the record):
  records.py      Part, Mistake, Assignment: a part's contract (its ``reference``), cases,
                  probe, judge, points, known mistakes, delegation rules and book section
  a1/ ... a7/     one package per assignment, one module per part (``a5/attention.py``)
  registry.py     every assignment, found by itself; test cell -> (part, thorough)
  report.py       Report: the properties a check found, failures first, named mistakes
  tracer.py       Rules and the one anti-delegation tracer
  hosts.py        the full GPT and a module alone: where A5's components are run
  common.py       seeded inputs; untrusted calls whose errors point at the student's line
  execute.py      nbgrader's Execute, replaced: probes in the sandboxed kernel, judged here
  kernel_probe.py the untrusted side the kernel runs; audit.py the trusted source audit

In a notebook::

    from lmcore.grading import a5
    a5.attention.check(scaled_dot_product_attention)                   # shows a report
    a5.attention.check(scaled_dot_product_attention).raise_if_failed()  # a test cell
"""
