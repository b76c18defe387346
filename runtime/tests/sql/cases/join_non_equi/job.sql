-- A regular join whose condition has no equality: every order meets every tier, and the
-- residual condition keeps the tiers whose limit the amount fits under (a NULL amount fits
-- none). Flink runs it as a join on an empty key, in one subtask.
-- !include ../../tables/orders.sql

CREATE TABLE limits (
  tier STRING,
  max_amount DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/limits.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  order_id BIGINT,
  tier STRING
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT o.order_id, l.tier
FROM orders AS o
JOIN limits AS l ON o.amount <= l.max_amount;
