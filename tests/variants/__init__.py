"""Variant submissions of every assignment, as data: one module per assignment (``a5.py``).

Each module defines three dicts keyed by part id:
  MUTANTS      {mistake id: [(grade_id, old, new), ...]}  edits of the solution notebook, each
               a classic bug written as a student would; it must fail its part (only), and the
               report must name that mistake id (one of the part's ``Mistake``s)
  ALTERNATIVES {name: source}  a whole solution cell, correct, in another style: passes everything
  DELEGATING   {name: source or edits}  hands the work to a library or lmcore: loses the whole part
An edit's ``old`` text must occur exactly once in its cell.
"""
