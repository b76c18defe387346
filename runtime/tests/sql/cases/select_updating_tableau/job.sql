-- A bare SELECT of an updating query: the tableau shows the changelog with +I, -U and +U
-- in the op column.
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

SELECT page, COUNT(*) AS cnt, MAX(ms) AS max_ms FROM clicks GROUP BY page;
