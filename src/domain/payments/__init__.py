"""Payments: Payment and its method lines, the allocation waterfall, late fees and fee waivers.

Public API: `model` (Payment, MethodLine, PaymentStatus, FeeWaiver, WaiverStatus), `allocation`
(allocate_payment, due_now, AllocationLine, DueItem), `late_fees` (LateFeePolicy,
assess_late_fees, FeeCharge), `ports` (PaymentRepository, FeeWaiverRepository). It sees
installments only through the `DueItem` and `FeeSubject` protocols, never the credits context.
"""
