-- HAVING on a non-windowed aggregate: a user's group is shown while it has fewer than 3
-- clicks. When a user's third click arrives, the aggregate's -U (old row) passes the
-- HAVING filter but its +U (count 3) does not, so the row is withdrawn by a lone -U (not
-- a -D). Later clicks of that user produce nothing.
CREATE TABLE clicks (
  user_name STRING,
  page STRING,
  ms INT,
  ts TIMESTAMP(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/input.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  user_name STRING,
  clicks BIGINT,
  pages STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, COUNT(*), MAX(page)
FROM clicks
GROUP BY user_name
HAVING COUNT(*) < 3;
