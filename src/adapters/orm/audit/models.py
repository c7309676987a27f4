"""The audit trail's table: append-only, enforced by a trigger (see migration 0001).

Unmanaged: the migration writes its DDL by hand (the table, its indexes and the trigger that
refuses UPDATE, DELETE and TRUNCATE). Django's flush (between transactional tests, `flush`)
truncates every managed table and would be refused; unmanaged tables are left out of it.

No foreign keys, on purpose: the trail outlives what it describes (the seed loader truncates the
book; a record must neither block that nor go with it).

Not partitioned, although it grows like payments (one row per money event): Django 5.2's admin
refuses models with a composite primary key, which a partitioned table needs here (psqlextra), and
a TRUNCATE of one partition would escape the parent's trigger. The admin's filters are served by
the indexes instead: (credit, time), (actor, time), (event, time) and (time) alone, each ending in
the id for the keyset. Monthly partitions can be attached later without changing the columns.
"""

from __future__ import annotations

from django.db import models

from adapters.orm.money_fields import amount_field, currency_field


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    event = models.CharField(max_length=32)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_role = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=8)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    credit_id = models.UUIDField(null=True, blank=True)
    reference_id = models.UUIDField(null=True, blank=True)
    amount = amount_field(null=True, blank=True)
    currency = currency_field(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    details = models.JSONField(default=dict)

    class Meta:
        managed = False
        db_table = "audit_entry"
        verbose_name = "audit record"
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.event} at {self.at:%Y-%m-%d %H:%M:%S} by {self.actor_id or 'system'}"
