import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

import org.h2.mvstore.MVStore;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;

/**
 * The development MongoDB-wire database: mongo-java-server on an H2 MVStore file.
 *
 * <p>Two things differ from the stock H2 server. It reports wire version 9 ("4.4.0"), the
 * oldest PyMongo 4.20 accepts. And a write command is acknowledged only after the store has
 * been committed to the file, so an acknowledged write survives a kill -9 of this process
 * (the stock backend commits about once a second). Concurrent writers share one commit.
 *
 * <p>Usage: java HotlineMongo HOST PORT FILE
 */
public final class HotlineMongo {

    private static final Set<String> WRITES = Set.of(
            "insert", "update", "delete", "findandmodify", "createindexes", "create", "drop",
            "dropdatabase", "dropindexes", "renamecollection");

    /** MongoDB 4.4: wire version 9. */
    enum Version implements MongoVersion {
        MONGO_4_4;

        @Override
        public List<Integer> getVersionArray() {
            return List.of(4, 4, 0);
        }

        @Override
        public int getWireVersion() {
            return 9;
        }
    }

    /** H2 backend whose write commands return only once the store is committed. */
    static final class DurableBackend extends H2Backend {
        private final MVStore store;
        private final AtomicLong finished = new AtomicLong();
        private final Object commitLock = new Object();
        private long committed;

        DurableBackend(MVStore store) {
            super(store);
            this.store = store;
        }

        @Override
        public Document handleCommand(Channel channel, String database, String command, Document query) {
            if (!WRITES.contains(command.toLowerCase())) {
                return super.handleCommand(channel, database, command, query);
            }
            try {
                return super.handleCommand(channel, database, command, query);
            } finally { // a failed write (duplicate key in a batch) may still have changed something
                commitThrough(finished.incrementAndGet());
            }
        }

        /** Group commit: one commit covers every write that finished before it began. */
        private void commitThrough(long write) {
            synchronized (commitLock) {
                if (committed >= write) {
                    return;
                }
                long upTo = finished.get();
                store.commit();
                committed = upTo;
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: HotlineMongo HOST PORT FILE");
            System.exit(2);
        }
        Path file = Path.of(args[2]);
        Files.createDirectories(file.toAbsolutePath().getParent());
        MVStore store = new MVStore.Builder().fileName(file.toString()).open();
        DurableBackend backend = new DurableBackend(store);
        backend.version(Version.MONGO_4_4);
        MongoServer server = new MongoServer(backend);
        server.bind(args[0], Integer.parseInt(args[1]));
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "shutdown"));
        System.err.println("hotline-mongo: listening on " + args[0] + ":" + args[1] + ", file " + file);
    }
}
