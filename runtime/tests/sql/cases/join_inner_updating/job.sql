-- runnel:compare=final
-- Regular INNER JOIN where one input is updating: customers joined with per-customer
-- order statistics from a GROUP BY. An update of the aggregate retracts (-U) the
-- previously joined row and adds the new one. Which intermediate rows appear depends on
-- how the inputs interleave, so only the final result is compared.
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
  name STRING,
  n_orders BIGINT,
  total DOUBLE
) WITH ('connector' = 'print');

INSERT INTO print_sink
SELECT c.name, s.n_orders, s.total
FROM customers AS c
JOIN (
  SELECT customer_id, COUNT(*) AS n_orders, SUM(amount) AS total
  FROM orders
  GROUP BY customer_id
) AS s ON c.customer_id = s.customer_id;
