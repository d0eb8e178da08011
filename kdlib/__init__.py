__version__ = "0.10.0"
# the oldest kdlib whose stored runs and teachers this one would compute identically (kdlib.store); a sweep that needs
# a metric an older record lacks runs it again (kdlib.sweep: `needs`). 0.9 gives each seed its own teacher and an
# ensemble other members (kdlib.config.member_seed), so no record of 0.8 or before is used
SAME_RUNS_SINCE = "0.9.0"


def same_runs(version) -> bool:
    """Whether runs stored by kdlib `version` are what this version would compute (SAME_RUNS_SINCE up to this one)."""
    def parse(v):
        return tuple(int(p) for p in str(v).split("."))
    try:
        return parse(SAME_RUNS_SINCE) <= parse(version) <= parse(__version__)
    except ValueError:
        return False
