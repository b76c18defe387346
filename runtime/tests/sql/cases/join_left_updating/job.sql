-- runnel:compare=final
-- Regular LEFT JOIN with an updating right input (a GROUP BY subquery): customers with
-- their order count. A customer without orders is padded with NULL; when the aggregate
-- changes, the joined row is retracted and re-emitted (a -U of the right side briefly
-- turns the row back into a NULL-padded one). The changelog depends on how the inputs
-- interleave, so only the final result is compared.
-- !include ../../tables/orders.sql

CREATE TABLE customers (
  customer_id BIGINT,
  name STRING,
  country STRING
) WITH (
  'connector' = 'filesystem',
  'path' = '${CASE_DIR}/customers.json',
  'format' = 'json'
);

CREATE TABLE print_sink (
  customer_id BIGINT,
  name STRING,
  n_orders BIGINT
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT c.customer_id, c.name, s.n_orders
FROM customers AS c
LEFT JOIN (
  SELECT customer_id, COUNT(*) AS n_orders
  FROM orders
  GROUP BY customer_id
) AS s ON c.customer_id = s.customer_id;
