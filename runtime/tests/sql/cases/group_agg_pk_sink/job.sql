-- An updating aggregate written to a print table declared with PRIMARY KEY ... NOT
-- ENFORCED on the grouping key. The print connector accepts every change kind, so the
-- changelog is the same as without a key: +I, then -U/+U pairs per update.
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
  last_page STRING,
  clicks BIGINT,
  PRIMARY KEY (user_name) NOT ENFORCED
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT user_name, MAX(page), COUNT(*)
FROM clicks
GROUP BY user_name;
