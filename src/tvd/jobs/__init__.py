"""Jobs: what a user runs, as library functions the command line and the benchmarks both call.

* :func:`tvd.jobs.augment.augment`: LINGUIST data for one intent from its seeds (plan -> teacher -> validate
  -> filter), data in and results out; :mod:`tvd.jobs.run` wraps it into ``tvd run`` / ``tvd generate``
  (read a run config's data, write the run directory, train and compare students).
* :func:`tvd.jobs.clasp.clasp_job`: CLASP (utterance, parse) pairs by one strategy (``tvd clasp``).
"""
