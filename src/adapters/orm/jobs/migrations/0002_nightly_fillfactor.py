from django.db import migrations


class Migration(migrations.Migration):
    """Room on every page of the two tables the nightly run updates in place (fillfactor 90).

    Each night the run rewrites the delinquency snapshot of every delinquent credit and the
    `late_fee` of their overdue installments. None of those columns is indexed, so PostgreSQL can
    update in place (a HOT update: no new index entries) when the row's page has free space; at the
    default fillfactor of 100 a loaded page has none, every update writes a new entry in each of the
    credits' 8 and the installments' 4 indexes, and the run is about twice as slow (measured: see
    the nightly job's notes in README). Applies to pages written from now on; `VACUUM FULL` (or
    pg_repack) rewrites an existing table with it.
    """

    dependencies = [("jobs", "0001_initial"), ("credits", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE credits_credit SET (fillfactor = 90); ALTER TABLE credits_installment SET (fillfactor = 90);",
            "ALTER TABLE credits_credit RESET (fillfactor); ALTER TABLE credits_installment RESET (fillfactor);",
        )
    ]
