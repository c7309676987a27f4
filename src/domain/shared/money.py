"""Money: an exact Decimal amount in one currency, never a float.

A `Money` always holds an amount representable in its currency's minor units (COP 2, CLP 0, KWD 3):
anything finer is refused (`TooPrecise`), so a Money can never carry a fraction of a cent.
Arithmetic between Money values is exact (no rounding), multiplying by an int is exact, and
splitting uses `allocate` (largest remainder) so no minor unit is created or lost.

Rounding happens only at these named points, always ROUND_HALF_EVEN (banker's rounding, which
does not drift upwards over millions of operations):
- `Money.rounded(value, currency)`: schedule generation (installment payment, interest per
  period, flat interest) and late-fee accrual, where a Decimal result of a rate must become money;
- `Money.times(factor)`: a rate or share applied to money (it calls `rounded`);
- display (`str(money)`) needs no rounding because the amount is already in minor units.

Money is a frozen slotted dataclass: cheap to create and safe as a dict key. Results of
arithmetic between two valid Money values skip re-validation (`_make`) because they are valid
by construction; that keeps the hot paths (allocation, schedules, balances) fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation
from fractions import Fraction

from domain.shared.errors import (
    AmountTooLarge,
    CurrencyMismatch,
    FloatRefused,
    InvalidInput,
    TooPrecise,
    UnknownCurrency,
)

ROUNDING = ROUND_HALF_EVEN


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency: its code and how many decimals its minor unit has."""

    code: str
    minor_units: int
    # 10**-minor_units, cached: every quantize needs it.
    exponent: Decimal = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.code, str) and len(self.code) == 3 and self.code.isalpha() and self.code.isupper()):
            raise InvalidInput(f"Currency code must be three upper-case letters, not {self.code!r}.")
        if isinstance(self.minor_units, bool) or not isinstance(self.minor_units, int):
            raise InvalidInput("Minor units must be an integer.")
        if not 0 <= self.minor_units <= 4:
            raise InvalidInput(f"Minor units must be between 0 and 4, not {self.minor_units}.")
        object.__setattr__(self, "exponent", Decimal(1).scaleb(-self.minor_units))

    @staticmethod
    def of(code: str) -> Currency:
        """The registered currency with this ISO code."""
        try:
            return _REGISTRY[code]
        except KeyError:
            raise UnknownCurrency(f"Unknown currency {code!r}.", details={"currency": code}) from None

    def round(self, value: Decimal) -> Decimal:
        """The named rounding point: `value` rounded half-even to this currency's minor unit."""
        return value.quantize(self.exponent, ROUNDING)

    def __str__(self) -> str:
        return self.code

    def __copy__(self) -> Currency:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Currency:
        return self


_REGISTRY: dict[str, Currency] = {}


def register_currency(code: str, minor_units: int) -> Currency:
    """Add a currency to the registry (the catalog loads its rows here at start-up).

    Registering the same code again with the same minor units is a no-op; with other minor units
    it is refused, because every stored amount of that currency would change meaning.
    """
    currency = Currency(code, minor_units)
    known = _REGISTRY.get(code)
    if known is not None:
        if known.minor_units != minor_units:
            raise InvalidInput(f"Currency {code} is already registered with {known.minor_units} minor units.")
        return known
    _REGISTRY[code] = currency
    return currency


COP = register_currency("COP", 2)
USD = register_currency("USD", 2)
EUR = register_currency("EUR", 2)
MXN = register_currency("MXN", 2)
PEN = register_currency("PEN", 2)
BRL = register_currency("BRL", 2)
CLP = register_currency("CLP", 0)
JPY = register_currency("JPY", 0)
KWD = register_currency("KWD", 3)


def registered_currencies() -> tuple[Currency, ...]:
    return tuple(_REGISTRY.values())


def _to_decimal(value: object) -> Decimal:
    """Decimal from Decimal, int or str; float refused loudly."""
    if type(value) is Decimal:
        return value
    if isinstance(value, float):
        raise FloatRefused("Money refuses float amounts; pass a Decimal, an int or a string.")
    if isinstance(value, bool):
        raise InvalidInput("A boolean is not an amount.")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInput(f"Not an amount: {value!r}.") from None
    raise InvalidInput(f"Not an amount: {type(value).__name__}.")


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: Currency

    def __post_init__(self) -> None:
        if not isinstance(self.currency, Currency):
            raise InvalidInput("Money needs a Currency.")
        amount = self.amount
        if type(amount) is not Decimal:
            if isinstance(amount, float):
                raise FloatRefused("Money refuses float amounts; pass a Decimal, an int or a string.")
            if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
                raise InvalidInput("Money needs a Decimal or int amount.")
            amount = Decimal(amount)
        if not amount.is_finite():
            raise InvalidInput("An amount must be a finite number.")
        try:
            exact = amount.quantize(self.currency.exponent)
        except InvalidOperation:
            raise InvalidInput("The amount is too large.") from None
        if exact != amount:
            raise TooPrecise(
                f"{amount} has more decimals than {self.currency.code} allows ({self.currency.minor_units}).",
                details={"amount": str(amount), "currency": self.currency.code},
            )
        # Normalised scale (5 -> 5.00) so str() and the wire format are stable.
        object.__setattr__(self, "amount", exact)

    # --- construction ---------------------------------------------------------------------------

    def __copy__(self) -> Money:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Money:
        # Immutable: copies of aggregates (fakes, snapshots) can share their Money values.
        return self

    @staticmethod
    def _make(amount: Decimal, currency: Currency) -> Money:
        """Build without validation; only for amounts already exact in the currency's minor units.

        The hottest constructor (every sum makes one): the slots are set through their descriptors,
        which skips the frozen dataclass's __setattr__ check."""
        money = _new(Money)
        _set_amount(money, amount)
        _set_currency(money, currency)
        return money

    @classmethod
    def stored(cls, amount: Decimal, currency: Currency) -> Money:
        """An amount as stored (a Decimal the database kept in this currency): checked exact in
        its minor units and brought to their scale, without the rest of a new amount's checks."""
        exact = amount.quantize(currency.exponent)
        if exact != amount:
            raise TooPrecise(
                f"{amount} has more decimals than {currency.code} allows ({currency.minor_units}).",
                details={"amount": str(amount), "currency": currency.code},
            )
        return cls._make(exact, currency)

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: Currency | str) -> Money:
        """Parse an amount (Decimal, int or string like "125.50") in a currency (object or code)."""
        cur = currency if isinstance(currency, Currency) else Currency.of(currency)
        return cls(_to_decimal(amount), cur)

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls._make(Decimal(0).quantize(currency.exponent), currency)

    @classmethod
    def rounded(cls, value: Decimal | int, currency: Currency) -> Money:
        """The named rounding point: any Decimal rounded half-even to the currency's minor unit."""
        return cls._make(currency.round(_to_decimal(value)), currency)

    @classmethod
    def from_minor(cls, units: int, currency: Currency) -> Money:
        """From an integer count of minor units (cents): 12550 COP -> 125.50 COP."""
        if isinstance(units, bool) or not isinstance(units, int):
            raise InvalidInput("Minor units must be an integer.")
        return cls._make(Decimal(units).scaleb(-currency.minor_units).quantize(currency.exponent), currency)

    # --- inspection -----------------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount as an integer count of minor units."""
        return int(self.amount.scaleb(self.currency.minor_units))

    @property
    def is_zero(self) -> bool:
        return not self.amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency.code}"

    # --- arithmetic -----------------------------------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"Expected Money, got {type(other).__name__}.")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"Cannot combine {self.currency.code} with {other.currency.code}.",
                details={"currencies": [self.currency.code, other.currency.code]},
            )
        return other

    def __add__(self, other: Money) -> Money:
        if type(other) is not Money or other.currency is not self.currency:
            other = self._same(other)
        return Money._make(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        if type(other) is not Money or other.currency is not self.currency:
            other = self._same(other)
        return Money._make(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money._make(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money._make(abs(self.amount), self.currency)

    def __mul__(self, factor: int) -> Money:
        """Exact multiplication by an integer; use `times` for a rate (it rounds)."""
        if isinstance(factor, float):
            raise FloatRefused("Money refuses float factors.")
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money * only takes an int (exact); use .times(rate) for a Decimal rate.")
        return Money._make(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def times(self, factor: Decimal | int) -> Money:
        """Money * a rate or share, rounded half-even (a named rounding point)."""
        return Money.rounded(self.amount * _to_decimal(factor), self.currency)

    def min(self, other: Money) -> Money:
        return self if self.amount <= self._same(other).amount else other

    def max(self, other: Money) -> Money:
        return self if self.amount >= self._same(other).amount else other

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    # --- splitting ------------------------------------------------------------------------------

    def allocate(self, ratios: Sequence[Decimal | int]) -> list[Money]:
        """Split by ratios with the largest-remainder method: the parts always sum to `self`.

        Each part gets the floor of its exact share in minor units; the minor units left over go
        one each to the parts with the largest fractional remainders (ties: the earlier part).
        A negative amount is split like its absolute value, then negated.
        """
        if not ratios:
            raise InvalidInput("Allocation needs at least one ratio.")
        fractions = [Fraction(_to_decimal(r)) for r in ratios]
        if any(f < 0 for f in fractions):
            raise InvalidInput("Allocation ratios cannot be negative.")
        total = sum(fractions)
        if total == 0:
            raise InvalidInput("Allocation ratios cannot all be zero.")
        units = self.minor
        sign = -1 if units < 0 else 1
        units = abs(units)
        shares = [units * f / total for f in fractions]
        floors = [s.numerator // s.denominator for s in shares]
        leftover = units - sum(floors)
        # Stable sort: equal remainders keep their order, so the earlier part wins a tie.
        by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)
        for i in by_remainder[:leftover]:
            floors[i] += 1
        return [Money.from_minor(sign * u, self.currency) for u in floors]

    def split(self, parts: int) -> list[Money]:
        """`parts` near-equal parts (differing by at most one minor unit) summing to `self`."""
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise InvalidInput("Split needs a positive number of parts.")
        return self.allocate([1] * parts)


_new = object.__new__
_set_amount = Money.__dict__["amount"].__set__
_set_currency = Money.__dict__["currency"].__set__


def total(amounts: Iterable[Money], currency: Currency) -> Money:
    """Sum of Money values (zero in `currency` when empty); refuses mixed currencies."""
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result


def floor_div(amount: Money, parts: int) -> Money:
    """`amount / parts` rounded down to a minor unit (used when the last part must absorb the rest)."""
    return Money._make(
        (amount.amount / parts).quantize(amount.currency.exponent, ROUND_DOWN),
        amount.currency,
    )


# --- how large an accepted amount may be -----------------------------------------------------------
#
# Money is stored in numeric(20, 4) columns (adapters/orm/money_fields.py): 20 digits, 4 of them
# after the point, so a stored value is below 10**16 in major units whatever the currency (a
# currency has at most 4 minor units). An amount a caller gives (price, cost, adjustment, payment)
# is later multiplied by what the book adds to it, and every product must still fit:
#
#   interest   <= principal * max annual rate * max term in years
#              <= principal * 10 (MAX_ANNUAL_RATE) * 100 (1200 monthly installments)  = 1000 * principal
#              (flat: P*R*Y exactly; French: n*PMT - P <= n*P*r = P*R*Y; equal principal: less)
#   late fees  <= cap share (at most 1, LateFeePolicy) * the installments' amounts  <= principal + interest
#   total due  <= (1 + 1000) * (1 + 1) * principal = 2002 * principal < 10**4 * principal
#
# So an accepted amount keeps 4 digits of headroom: at most 16 - 4 = 12 digits before the point,
# i.e. below 10**12 major units, in the currency's minor units (COP 999,999,999,999.99,
# CLP 999,999,999,999, KWD 999,999,999,999.999). The same bound holds for a credit's principal as
# adjusted and for what a refinance carries into a new credit. Sums over many credits (portfolio
# figures) are computed, never stored in these columns.
STORED_INTEGER_DIGITS = 16
HEADROOM_DIGITS = 4
MAX_INTEGER_DIGITS = STORED_INTEGER_DIGITS - HEADROOM_DIGITS


def max_amount(currency: Currency) -> Money:
    """The largest amount accepted in `currency`: 10**12 less one minor unit."""
    return Money.from_minor(10 ** (MAX_INTEGER_DIGITS + currency.minor_units) - 1, currency)


def require_storable(amount: Money, what: str = "The amount") -> Money:
    """`amount` unchanged if its absolute value is at most `max_amount`, else AmountTooLarge (422)."""
    limit = max_amount(amount.currency)
    if abs(amount) > limit:
        raise AmountTooLarge(
            f"{what} exceeds the largest amount accepted in {amount.currency.code}: {limit.amount:,f}.",
            details={"max_amount": str(limit.amount), "currency": amount.currency.code},
        )
    return amount
