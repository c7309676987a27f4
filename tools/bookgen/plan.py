"""What to generate: the seed's volumes per level, the scale, and the shapes of the book.

The volumes are the seed's table ("Nivel 1/2/3"): users, credits, transactions and payments (the
seed's AccountMethodAmount rows, our payment lines). Users and credits are generated exactly;
transactions and payment lines follow from the credits' histories, whose shapes below are tuned so
that a level lands near the seed's ratios (5 transactions and 10 payment lines per credit).

Everything random comes from `random.Random` seeded per batch with (seed, batch number), so the
book depends only on --seed, --level, --scale and the business date, never on the number of
worker processes or the order batches finish in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

# The seed's table (ANALISIS_ESCALABILIDAD.md, "Estimación de capacidad por registros").
LEVELS: dict[int, dict[str, int]] = {
    1: {"users": 10_000, "credits": 50_000, "transactions": 250_000, "payment_lines": 500_000},
    2: {"users": 100_000, "credits": 500_000, "transactions": 2_500_000, "payment_lines": 5_000_000},
    3: {"users": 1_000_000, "credits": 5_000_000, "transactions": 25_000_000, "payment_lines": 50_000_000},
}

USERNAME_PREFIX = "seed_"
# Every generated user logs in with this password (hashed once): the benchmark logs users in.
SEED_PASSWORD = "seed-pass-2026"  # noqa: S105 - development and benchmark data only
CREDITS_PER_BATCH = 2_000
# History: credits open over the last ~3 years and 35 days, more of them recently (a growing book).
HISTORY_DAYS = 3 * 365 + 35
ADMINS = 3
CLIENTS_PER_AGENT = 200
# Share of credits that go to the few "heavy" clients (0.1 % of them): resellers, repeat borrowers.
HEAVY_CLIENT_SHARE = 0.001
HEAVY_CREDIT_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Plan:
    level: int
    scale: float
    seed: int
    today: date
    users: int
    credits: int
    target_transactions: int
    target_payment_lines: int
    user_id_base: int = 0
    batch_size: int = CREDITS_PER_BATCH
    admins: int = field(init=False)
    agents: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "admins", min(ADMINS, max(1, self.users // 100)))
        object.__setattr__(self, "agents", max(2, self.users // CLIENTS_PER_AGENT))
        if self.users < self.admins + self.agents + 1:
            raise ValueError("Too few users for admins, agents and at least one client.")

    @classmethod
    def build(cls, level: int, scale: float, seed: int, today: date, user_id_base: int = 0) -> Plan:
        if level not in LEVELS:
            raise ValueError(f"Unknown level {level}; choose one of {sorted(LEVELS)}.")
        if not 0 < scale <= 10:
            raise ValueError("--scale must be in (0, 10].")
        volumes = LEVELS[level]

        def scaled(name: str, minimum: int) -> int:
            return max(minimum, round(volumes[name] * scale))

        return cls(
            level=level,
            scale=scale,
            seed=seed,
            today=today,
            users=scaled("users", 10),
            credits=scaled("credits", 10),
            target_transactions=scaled("transactions", 0),
            target_payment_lines=scaled("payment_lines", 0),
            user_id_base=user_id_base,
        )

    @property
    def clients(self) -> int:
        return self.users - self.admins - self.agents

    @property
    def heavy_clients(self) -> int:
        return max(1, round(self.clients * HEAVY_CLIENT_SHARE))

    @property
    def history_start(self) -> date:
        return self.today - timedelta(days=HISTORY_DAYS)

    @property
    def batches(self) -> int:
        return -(-self.credits // self.batch_size)

    def batch_bounds(self, batch: int) -> tuple[int, int]:
        start = batch * self.batch_size
        return start, min(self.credits, start + self.batch_size)

    # Users are laid out as: admins, agents, clients (ids after user_id_base, in this order).
    def admin_id(self, index: int) -> int:
        return self.user_id_base + 1 + index

    def agent_id(self, index: int) -> int:
        return self.user_id_base + 1 + self.admins + index

    def client_id(self, index: int) -> int:
        return self.user_id_base + 1 + self.admins + self.agents + index

    def home_agent(self, client_index: int) -> int:
        """The agent whose portfolio a client belongs to (a fixed scatter, so portfolios mix clients)."""
        return self.agent_id((client_index * 7919 + 13) % self.agents)


# --- catalogs ------------------------------------------------------------------------------------

# (category, subcategory, price tier): tiers pick price points below.
SUBCATEGORIES: list[tuple[str, str, int]] = [
    ("Electrodomésticos", "Neveras", 2),
    ("Electrodomésticos", "Lavadoras", 2),
    ("Electrodomésticos", "Televisores", 1),
    ("Electrodomésticos", "Estufas", 1),
    ("Tecnología", "Celulares", 1),
    ("Tecnología", "Portátiles", 2),
    ("Tecnología", "Tabletas", 1),
    ("Hogar", "Colchones", 1),
    ("Hogar", "Muebles", 1),
    ("Hogar", "Comedores", 2),
    ("Motos", "Motos 125cc", 3),
    ("Motos", "Motos 200cc", 3),
    ("Motos", "Repuestos", 0),
    ("Préstamos", "Libre inversión", 0),
    ("Préstamos", "Capital de trabajo", 1),
    ("Préstamos", "Gota a gota", 0),
]
SUBCATEGORY_WEIGHTS = [8, 6, 9, 5, 12, 5, 3, 6, 5, 3, 6, 3, 4, 12, 6, 7]

# (name, kind, currency, bank name, masked number). Names are unique per currency (case-insensitive).
PAYMENT_ACCOUNTS: list[tuple[str, str, str, str, str]] = [
    ("Caja principal", "cash", "COP", "", ""),
    ("Caja Medellín", "cash", "COP", "", ""),
    ("Caja Cali", "cash", "COP", "", ""),
    ("Caja Barranquilla", "cash", "COP", "", ""),
    ("Caja Bucaramanga", "cash", "COP", "", ""),
    ("Bancolombia ahorros", "bank", "COP", "Bancolombia", "****1234"),
    ("Davivienda corriente", "bank", "COP", "Davivienda", "****5521"),
    ("BBVA ahorros", "bank", "COP", "BBVA", "****0087"),
    ("Banco de Bogotá", "bank", "COP", "Banco de Bogotá", "****7410"),
    ("Nequi", "wallet", "COP", "", ""),
    ("Daviplata", "wallet", "COP", "", ""),
    ("Caja USD", "cash", "USD", "", ""),
    ("Bancolombia USD", "bank", "USD", "Bancolombia", "****9902"),
    ("PayPal USD", "wallet", "USD", "", ""),
]

# Price points per currency and tier, in minor units (products are sold at list prices, which is
# what lets the schedules be computed once per template by the domain itself).
_COP = 100
PRICE_POINTS: dict[str, list[list[int]]] = {
    "COP": [
        [v * _COP for v in (100_000, 150_000, 200_000, 250_000, 300_000, 400_000, 500_000, 600_000, 800_000)],
        [v * _COP for v in (349_900, 499_900, 649_900, 799_900, 899_900, 1_199_900, 1_499_900, 1_899_900)],
        [v * _COP for v in (1_299_900, 1_799_900, 2_199_900, 2_400_000, 2_899_900, 3_499_900, 4_200_000)],
        [v * _COP for v in (4_990_000, 5_890_000, 6_790_000, 7_490_000, 8_990_000, 11_900_000, 14_500_000)],
    ],
    "USD": [
        [v * 100 for v in (100, 150, 200, 300, 500)],
        [14999, 24999, 39900, 59900, 79999],
        [89900, 129900, 179900, 240000, 300000],
        [250000, 320000, 450000, 680000, 990000],
    ],
}
USD_SHARE = 0.10

# Terms per periodicity: (installments, weight).
TERMS: dict[str, list[tuple[int, int]]] = {
    "daily": [(20, 4), (24, 3), (30, 3)],
    "weekly": [(4, 5), (6, 3), (8, 2), (12, 1)],
    "biweekly": [(2, 4), (3, 3), (4, 3), (6, 2), (8, 1)],
    "monthly": [(2, 2), (3, 4), (4, 3), (6, 3), (12, 2), (18, 1)],
}
PERIODICITY_WEIGHTS = {"daily": 10, "weekly": 22, "biweekly": 28, "monthly": 40}
# Days between an agent's collection visits, per periodicity (a visit pays whatever is due).
VISIT_GAP = {"daily": (3, 8), "weekly": (7, 21), "biweekly": (14, 28), "monthly": (28, 35)}

# Interest methods with their annual rates (strings: the domain refuses floats).
METHODS: list[tuple[str, int, tuple[str, ...]]] = [
    ("flat_markup", 40, ("0.24", "0.36", "0.48")),
    ("french", 30, ("0.18", "0.24", "0.30")),
    ("equal_principal", 15, ("0.12", "0.18", "0.24")),
    ("zero_interest", 15, ("0",)),
]

# How clients pay (weights): on time, late (fees), partially (arrears build up), or stop paying.
PROFILES = {"punctual": 68, "late": 13, "partial": 8, "stopper": 11}
# Payment-method lines per payment (1 to 3 accounts); the seed's table has two lines per transaction.
LINES_PER_PAYMENT = [(1, 15), (2, 20), (3, 65)]

PENDING_SHARE = 0.01  # opened in the last week, not disbursed yet
CANCELLED_SHARE = 0.004
PREPAY_PAYOFF_SHARE = 0.02  # per visit of a punctual client: pays everything off with prepayment
REVERSAL_SHARE = 0.006  # per payment: a transfer bounced, reversed by an admin the same day
WAIVER_SHARE = 0.05  # per late visit with a fee owed: an admin waives half of it first
REJECTED_WAIVER_SHARE = 0.01
REQUESTED_WAIVER_SHARE = 0.08  # open credits with a fee owed today: an agent asks to waive half
ADJUSTMENT_SHARE = 0.005
WRITE_OFF_SHARE = 0.35  # of clients who stopped paying and passed 180 days past due before today
