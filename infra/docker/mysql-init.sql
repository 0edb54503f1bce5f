-- The five bounded-context databases; the application user gets them all.
CREATE DATABASE IF NOT EXISTS user_management;
CREATE DATABASE IF NOT EXISTS inventory_management;
CREATE DATABASE IF NOT EXISTS order_management;
CREATE DATABASE IF NOT EXISTS transaction_management;
CREATE DATABASE IF NOT EXISTS shipping_management;
GRANT ALL PRIVILEGES ON *.* TO 'topproducts'@'%';
