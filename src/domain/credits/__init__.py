"""Credits: the Credit aggregate, its installments, schedules, states, events and delinquency.

Public API: `model` (Credit, Installment, CreditState, CreditEvent), `schedule` (ScheduleTerms,
InterestMethod, Periodicity, generate_schedule, due_dates), `delinquency` (DelinquencyPolicy,
Delinquency), `ports` (CreditRepository). No import of the other contexts: a payment's
allocation is applied through the `AllocationPart` protocol, which the payments lines satisfy.
"""
