from django.db import migrations

from adapters.db.partitioning import month_partitions_migration


class Migration(migrations.Migration):
    """The monthly partitions, created by the deployment's migrate: without them every row lands in
    the DEFAULT partition, and PostgreSQL then refuses to create the months."""

    # credits: the oldest credit's opening decides the first month.
    dependencies = [("ledger", "0003_ledgertransaction_tx_agent_keyset_idx"), ("credits", "0001_initial")]

    operations = [month_partitions_migration(["ledger_transaction", "ledger_posting"])]
