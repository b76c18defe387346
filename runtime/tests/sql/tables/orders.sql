-- The orders of the join cases, read from the including case's own orders.json.
CREATE TABLE orders (
  order_id BIGINT,
  customer_id BIGINT,
  amount DOUBLE
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/orders.json',
  'format' = 'json'
);
