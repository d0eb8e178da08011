__version__ = "0.8.0"
# the oldest kdlib whose stored runs and teachers this one would compute identically: 0.8 adds C7's feature metrics to
# a run's record and changes nothing else, so records of 0.7 are used as they are (kdlib.store), and a sweep that
# needs a metric an older record lacks runs it again (kdlib.sweep: `needs`)
SAME_RUNS_SINCE = "0.7.0"


def same_runs(version) -> bool:
    """Whether runs stored by kdlib `version` are what this version would compute (SAME_RUNS_SINCE up to this one)."""
    def parse(v):
        return tuple(int(p) for p in str(v).split("."))
    try:
        return parse(SAME_RUNS_SINCE) <= parse(version) <= parse(__version__)
    except ValueError:
        return False
