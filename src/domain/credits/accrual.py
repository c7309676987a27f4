"""Interest earned by a date, and what a refinance carries into a new credit.

The accrual rule (one rule, stated per method):

Installment k covers the period (start_k, due_k], where start_1 is the day the credit was opened
and start_k is the previous installment's due date. Its scheduled interest I_k is earned

    fully              once the date reaches due_k,
    not at all         up to start_k,
    pro rata by days   in between: I_k * (date - start_k) / (due_k - start_k), rounded half-even.

- FRENCH (declining balance) and EQUAL_PRINCIPAL: I_k is the interest of period k on the balance
  of that period, so this is the interest of the past periods plus the current period's interest
  by days elapsed. Interest of later periods is not earned.
- ZERO_INTEREST: I_k = 0; nothing accrues.
- FLAT_MARKUP: the flat add-on (principal * rate * years) is spread evenly over the installments,
  so the same rule earns the markup of the installments due on or before the date plus the
  current one pro rata; the rest is unearned. Why not "all earned from day one", as the seed's
  ledger books it at disbursement: the markup is a charge for time (it grows with the term), so
  the part for time that never runs is not earned; keeping it on early settlement is what the
  Rule of 78s / precomputed-interest practice did and what consumer-credit rules forbid (a
  rebate of the charge for the remaining term). Straight-line per installment is also the
  client-friendliest reading (it never front-loads the markup). With rate 0 ("the markup is in
  the price") there is no interest to earn: the price is principal, and the seller's margin
  (price - cost) was earned at the sale.

Consequences: earned interest never exceeds the schedule's interest, equals it once the last
installment is due, and is 0 on the opening day when the first due date is later.

What a refinance carries (`refinance_balance`): outstanding principal + interest earned and not
paid + late fees charged and neither waived nor paid — never interest of time not yet elapsed.
Interest the client paid in advance for time not yet elapsed (a prepayment) is unearned too: it is
credited against the principal carried. The rest of the unearned interest is forgiven. So

    carried + unearned interest (forgiven + credited) == what the old credit still showed as owed,

and the ledger, which recognised the whole schedule's interest at disbursement, reverses the
unearned part against interest income when the old receivable is closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from domain.shared.money import Currency, Money, total


class ScheduledInterest(Protocol):
    """What accrual needs of an installment (the credits' Installment and schedule rows fit it)."""

    @property
    def due_date(self) -> date: ...

    @property
    def interest(self) -> Money: ...


class OwedInstallment(ScheduledInterest, Protocol):
    """An installment with what is still owed on it (the credits' Installment fits it)."""

    @property
    def paid_interest(self) -> Money: ...

    @property
    def principal_outstanding(self) -> Money: ...

    @property
    def late_fee_outstanding(self) -> Money: ...


def earned_per_installment(installments: Sequence[ScheduledInterest], opened_on: date, on: date) -> list[Money]:
    """The interest of each installment earned by the end of `on` (see the module's rule)."""
    earned: list[Money] = []
    start = opened_on
    for inst in installments:
        due = inst.due_date
        if on >= due:
            earned.append(inst.interest)
        elif on <= start:
            earned.append(Money.zero(inst.interest.currency))
        else:
            earned.append(_pro_rata(inst.interest, on, start, due))
        start = max(start, due)
    return earned


def _pro_rata(interest: Money, on: date, start: date, due: date) -> Money:
    # Exact fraction first, one rounding (half-even) at the end; the result never exceeds `interest`
    # because the fraction is below 1 and `interest` is itself a whole number of minor units.
    return Money.rounded(interest.amount * (on - start).days / (due - start).days, interest.currency)


def accrued_interest(installments: Sequence[ScheduledInterest], opened_on: date, on: date, currency: Currency) -> Money:
    """All the schedule's interest earned by the end of `on`."""
    return total(earned_per_installment(installments, opened_on, on), currency)


@dataclass(frozen=True, slots=True)
class RefinanceBalance:
    """What an open credit carries into a new one on `on`, each part shown on its own."""

    on: date
    outstanding_principal: Money
    # Interest earned by `on` and not paid yet: capitalised into the new principal.
    accrued_interest: Money
    # Late fees charged, not waived, not paid.
    late_fees: Money
    # Interest the client already paid for time after `on`: credited against the principal.
    prepaid_interest_credited: Money
    # Interest of time after `on` that was not paid: dropped.
    interest_forgiven: Money

    @property
    def principal(self) -> Money:
        """The old principal still owed, less the unearned interest already paid."""
        return self.outstanding_principal - self.prepaid_interest_credited

    @property
    def carried(self) -> Money:
        """The new credit's principal."""
        return self.principal + self.accrued_interest + self.late_fees

    @property
    def unearned_interest(self) -> Money:
        """All the old schedule's interest not earned by `on` (reversed from interest income)."""
        return self.interest_forgiven + self.prepaid_interest_credited

    def as_strings(self) -> dict[str, str]:
        return {
            "as_of": self.on.isoformat(),
            "outstanding_principal": str(self.outstanding_principal.amount),
            "prepaid_interest_credited": str(self.prepaid_interest_credited.amount),
            "principal": str(self.principal.amount),
            "accrued_interest": str(self.accrued_interest.amount),
            "late_fees": str(self.late_fees.amount),
            "carried": str(self.carried.amount),
            "interest_forgiven": str(self.interest_forgiven.amount),
        }


def refinance_balance(
    installments: Sequence[OwedInstallment], opened_on: date, on: date, currency: Currency
) -> RefinanceBalance:
    """Split what the installments still owe on `on` into what is carried and what is unearned."""
    zero = Money.zero(currency)
    accrued = credited = forgiven = zero
    for inst, earned in zip(installments, earned_per_installment(installments, opened_on, on), strict=True):
        paid = inst.paid_interest
        if earned >= paid:
            accrued += earned - paid
        else:
            credited += paid - earned
        forgiven += inst.interest - earned.max(paid)
    return RefinanceBalance(
        on=on,
        outstanding_principal=total((i.principal_outstanding for i in installments), currency),
        accrued_interest=accrued,
        late_fees=total((i.late_fee_outstanding for i in installments), currency),
        prepaid_interest_credited=credited,
        interest_forgiven=forgiven,
    )
