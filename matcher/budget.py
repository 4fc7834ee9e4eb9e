"""Work budgets: how much screening one text may cost where its caller cannot wait (a gateway's
event loop: about 2 ms a letter, issue 17). Work is counted, not timed, so a text gets the same
answer from the same index however busy the machine is: a budget decides only where the work is
done. Each stage spends before it does the work it counts, so a text over budget has cost at most
the budget (plus the fixed cost of reading a text of its length) when OverBudget is raised.

One unit is about a microsecond of one core (measured on the project's shared 2-core machine
with benchmarks/loop_cost_probe.py; figures in benchmarks/README.md)."""

from __future__ import annotations

from matcher.errors import OverBudget

MAIL_CHARACTERS = 2  # characters of a letter read per unit: normalising, the postcode regexes, the
# near pass's look for glued postcodes (spent up front: what every letter costs by its length)
PHONE_CANDIDATE = 2  # a candidate string: slicing, a set, the compiled fast path
PHONE_SLOW = 50  # ...that only phonenumbers reads (parse, format, maybe a second reading)
EMAIL_CANDIDATE = 50  # email-validator on one candidate address
ADDRESS_POSTING = 1  # an id in a phrase's postings, gathered before the candidates are known
ADDRESS_CANDIDATE = 5  # one candidate address's exact evidence, and its match under the policy
NEAR_POSTCODE = 30  # a postcode's near readings (about 50) looked up
NEAR_CANDIDATE_TOKEN = 1  # one candidate address against one of the letter's words, near: from
# 0.03 to 2.7 us measured, by how many words start like the address's street and town (a letter
# of postcodes, the dearest, has spent its budget on their near readings first)


class Budget:
    """Units of work left for one screening; `spend` raises OverBudget when they run out."""

    __slots__ = ("left",)

    def __init__(self, units: int) -> None:
        self.left = units

    def spend(self, units: int, what: str) -> None:
        left = self.left - units
        if left < 0:
            raise OverBudget(what)
        self.left = left
