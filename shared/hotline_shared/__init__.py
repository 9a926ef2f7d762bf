"""What more than one hotline service needs: contracts, envelope, Kafka/Mongo factories, auth, crypto."""
