from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

import pytest

from domain.ledger import accounts, entries
from domain.ledger.book import balance_of, balances, verify_book
from domain.ledger.errors import TransactionStateError, UnbalancedTransaction
from domain.ledger.model import (
    Posting,
    Side,
    Source,
    Transaction,
    TransactionStatus,
    TransactionType,
    imbalances,
)
from domain.shared.errors import InvalidInput
from domain.shared.money import COP, USD, Money

from .builders import usd

AT = datetime(2024, 3, 1, 10, tzinfo=UTC)
DAY = date(2024, 3, 1)
CREDIT = UUID(int=77)
D, C = Side.DEBIT, Side.CREDIT


def meta(n: int, **kw: object) -> entries.Meta:
    return entries.Meta(
        id=UUID(int=n), source=Source.WEB, occurred_on=DAY, recorded_at=AT, user_id=7, credit_id=CREDIT, **kw
    )  # type: ignore[arg-type]


def legs(tx: Transaction) -> list[tuple[str, str, str]]:
    return [(p.account, p.side.value, str(p.amount)) for p in tx.postings]


RECV = accounts.receivable(CREDIT)


class TestPostingsAndTransactions:
    def test_posting_must_be_positive_and_named(self) -> None:
        with pytest.raises(InvalidInput):
            Posting("cash:1", D, usd("0"))
        with pytest.raises(InvalidInput):
            Posting("", D, usd("1"))
        assert Posting("cash:1", C, usd("2")).signed == usd("-2")
        assert Posting("cash:1", C, usd("2")).mirrored() == Posting("cash:1", D, usd("2"))

    def test_unbalanced_refused_per_currency(self) -> None:
        with pytest.raises(UnbalancedTransaction) as info:
            Transaction(
                UUID(int=1),
                TransactionType.INCOME,
                TransactionStatus.CONFIRMED,
                Source.ADMIN,
                DAY,
                AT,
                (Posting("a", D, usd("1")), Posting("b", C, Money.of(1, COP))),
            )
        assert info.value.details == {"USD": "1.00", "COP": "-1.00"}
        with pytest.raises(UnbalancedTransaction):
            Transaction(UUID(int=1), TransactionType.INCOME, TransactionStatus.CONFIRMED, Source.ADMIN, DAY, AT, ())

    def test_imbalances_of_balanced_postings_is_empty(self) -> None:
        assert imbalances([Posting("a", D, usd("1")), Posting("b", C, usd("1"))]) == {}

    def test_amount_is_the_debits_in_the_first_currency(self) -> None:
        """What the transactions list shows, stored with the row at booking (ledger_transaction.amount)."""
        split = entries.repayment(meta(1), lines=[(1, usd("60")), (2, usd("40.5"))])
        assert split.amount == usd("100.50")
        assert split.reverse(
            reversal_id=UUID(int=2), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN
        ).amount == usd("100.50")
        two = Transaction(
            UUID(int=3),
            TransactionType.INCOME,
            TransactionStatus.CONFIRMED,
            Source.ADMIN,
            DAY,
            AT,
            (Posting("a", C, usd("2")), Posting("b", D, Money.of(7, COP)), Posting("c", C, Money.of(7, COP)),
             Posting("d", D, usd("2"))),
        )  # fmt: skip
        assert two.amount == Money.of(7, COP)  # COP before USD

    def test_status_moves(self) -> None:
        tx = entries.late_fee(meta(1, status=TransactionStatus.PENDING), amount=usd("5"))
        tx.confirm()
        assert tx.status is TransactionStatus.CONFIRMED
        with pytest.raises(TransactionStateError):
            tx.fail()
        other = entries.late_fee(meta(2, status=TransactionStatus.PENDING), amount=usd("5"))
        other.fail()
        assert other.status is TransactionStatus.FAILED
        with pytest.raises(TransactionStateError):
            other.confirm()
        with pytest.raises(TransactionStateError):
            other.reverse(reversal_id=UUID(int=3), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)

    def test_reversal_mirrors_and_marks_the_original(self) -> None:
        tx = entries.repayment(meta(1, reference_id=UUID(int=50)), lines=[(1, usd("60")), (2, usd("40"))])
        rev = tx.reverse(reversal_id=UUID(int=2), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN, agent_id=1)
        assert tx.status is TransactionStatus.REVERSED and tx.reversed_by_id == UUID(int=2)
        assert rev.type is TransactionType.REVERSAL and rev.reverses_id == tx.id
        assert rev.reference_id == UUID(int=50) and rev.credit_id == CREDIT
        assert legs(rev) == [
            ("cash:1", "credit", "60.00 USD"),
            ("cash:2", "credit", "40.00 USD"),
            (RECV, "debit", "100.00 USD"),
        ]
        with pytest.raises(TransactionStateError):
            tx.reverse(reversal_id=UUID(int=3), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)


class TestEntries:
    def test_disbursement(self) -> None:
        tx = entries.disbursement(meta(1), principal=usd("1000"), interest=usd("25.13"))
        assert tx.type is TransactionType.DISBURSEMENT
        assert legs(tx) == [
            (RECV, "debit", "1025.13 USD"),
            ("funding:disbursed", "credit", "1000.00 USD"),
            ("income:interest", "credit", "25.13 USD"),
        ]

    def test_zero_interest_leg_is_left_out(self) -> None:
        tx = entries.disbursement(meta(1), principal=usd("10"), interest=usd("0"))
        assert len(tx.postings) == 2

    def test_repayment_split_over_methods(self) -> None:
        tx = entries.repayment(meta(1), lines=[(1, usd("60")), (2, usd("40"))])
        assert legs(tx) == [
            ("cash:1", "debit", "60.00 USD"),
            ("cash:2", "debit", "40.00 USD"),
            (RECV, "credit", "100.00 USD"),
        ]

    def test_fee_waiver_write_off(self) -> None:
        assert legs(entries.late_fee(meta(1), amount=usd("5"))) == [
            (RECV, "debit", "5.00 USD"),
            ("income:late_fees", "credit", "5.00 USD"),
        ]
        assert legs(entries.fee_waiver(meta(1), amount=usd("5"))) == [
            ("expense:fee_waivers", "debit", "5.00 USD"),
            (RECV, "credit", "5.00 USD"),
        ]
        assert legs(entries.write_off(meta(1), amount=usd("9"))) == [
            ("expense:write_offs", "debit", "9.00 USD"),
            (RECV, "credit", "9.00 USD"),
        ]

    def test_adjustments_both_ways(self) -> None:
        assert legs(entries.adjustment(meta(1), amount=usd("3"))) == [
            (RECV, "debit", "3.00 USD"),
            ("income:adjustments", "credit", "3.00 USD"),
        ]
        assert legs(entries.adjustment(meta(1), amount=usd("-3"))) == [
            ("income:adjustments", "debit", "3.00 USD"),
            (RECV, "credit", "3.00 USD"),
        ]

    def test_refinance_moves_the_balance_to_the_new_credit(self) -> None:
        new = UUID(int=78)
        tx = entries.refinance(
            meta(1), new_credit_id=new, carried=usd("300"), unearned_interest=usd("40"), new_interest=usd("12")
        )
        found = balances([tx])
        # The old receivable is closed in full: what is carried plus the unearned interest reversed.
        assert found[(RECV, USD)] == usd("-340")
        assert found[(accounts.receivable(new), USD)] == usd("312")
        assert found[(accounts.REFINANCE_CLEARING, USD)] == usd("0")
        # Income: the new schedule's interest, less the old schedule's interest that was never earned.
        assert found[(accounts.INTEREST_INCOME, USD)] == usd("28")
        assert verify_book([tx]).ok

    def test_income_and_expense_without_a_credit(self) -> None:
        m = entries.Meta(id=UUID(int=5), source=Source.ADMIN, occurred_on=DAY, recorded_at=AT)
        assert legs(entries.income(m, cash_account_id=1, amount=usd("10"))) == [
            ("cash:1", "debit", "10.00 USD"),
            ("income:other", "credit", "10.00 USD"),
        ]
        assert legs(entries.expense(m, cash_account_id=1, amount=usd("4"), account="expense:rent")) == [
            ("expense:rent", "debit", "4.00 USD"),
            ("cash:1", "credit", "4.00 USD"),
        ]
        with pytest.raises(InvalidInput):
            entries.late_fee(m, amount=usd("1"))


class TestBook:
    def test_balances_count_confirmed_and_reversed_only(self) -> None:
        paid = entries.repayment(meta(1), lines=[(1, usd("100"))])
        pending = entries.late_fee(meta(2, status=TransactionStatus.PENDING), amount=usd("5"))
        failed = entries.late_fee(meta(3, status=TransactionStatus.PENDING), amount=usd("7"))
        failed.fail()
        book = [entries.disbursement(meta(4), principal=usd("400"), interest=usd("0")), paid, pending, failed]
        assert balance_of(RECV, USD, book) == usd("300")
        assert balance_of("cash:1", USD, book) == usd("100")
        assert balance_of("nowhere", USD, book) == usd("0")
        rev = paid.reverse(reversal_id=UUID(int=5), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)
        assert balance_of(RECV, USD, [*book, rev]) == usd("400")
        assert balance_of("cash:1", USD, [*book, rev]) == usd("0")

    def test_a_sound_book(self) -> None:
        paid = entries.repayment(meta(1), lines=[(1, usd("100"))])
        rev = paid.reverse(reversal_id=UUID(int=2), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)
        cop = entries.income(
            entries.Meta(id=UUID(int=3), source=Source.IMPORT, occurred_on=DAY, recorded_at=AT),
            cash_account_id=9,
            amount=Money.of(5000, COP),
        )
        check = verify_book([paid, rev, cop])
        assert check.ok and check.problems == []
        assert check.transactions == 3
        assert check.debits == check.credits == {"USD": 200, "COP": 5000}

    def test_defects_are_all_reported(self) -> None:
        broken = entries.late_fee(meta(1), amount=usd("5"))
        broken.postings = (*broken.postings, Posting("x", D, usd("1")))  # a corrupted row
        orphan = entries.late_fee(meta(2), amount=usd("5"))
        orphan.reverse(reversal_id=UUID(int=99), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)
        original = entries.late_fee(meta(3), amount=usd("5"))
        wrong = original.reverse(reversal_id=UUID(int=4), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)
        wrong.postings = (Posting("a", D, usd("1")), Posting("b", C, usd("1")))
        stray = entries.late_fee(meta(5), amount=usd("5"))
        stray_rev = stray.reverse(reversal_id=UUID(int=6), occurred_on=DAY, recorded_at=AT, source=Source.ADMIN)
        stray.status = TransactionStatus.CONFIRMED  # its reversal points at a transaction not marked reversed
        check = verify_book([broken, orphan, original, wrong, stray, stray_rev])
        assert not check.ok
        text = "\n".join(check.problems)
        assert f"{broken.id}: unbalanced" in text
        assert f"{orphan.id}: reversed without its compensating transaction" in text
        assert f"{original.id}: the reversal does not mirror the original" in text
        assert f"{stray_rev.id}: reverses a transaction that is not marked reversed" in text
        assert "book unbalanced in USD" in text
