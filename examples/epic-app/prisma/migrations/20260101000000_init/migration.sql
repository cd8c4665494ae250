-- CreateTable
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "username" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Password" (
    "hash" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    CONSTRAINT "Password_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Note" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "ownerId" TEXT NOT NULL,
    CONSTRAINT "Note_ownerId_fkey" FOREIGN KEY ("ownerId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Permission" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "action" TEXT NOT NULL,
    "entity" TEXT NOT NULL,
    "access" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Role" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "_PermissionToRole" (
    "A" TEXT NOT NULL,
    "B" TEXT NOT NULL,
    CONSTRAINT "_PermissionToRole_A_fkey" FOREIGN KEY ("A") REFERENCES "Permission" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "_PermissionToRole_B_fkey" FOREIGN KEY ("B") REFERENCES "Role" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "_RoleToUser" (
    "A" TEXT NOT NULL,
    "B" TEXT NOT NULL,
    CONSTRAINT "_RoleToUser_A_fkey" FOREIGN KEY ("A") REFERENCES "Role" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "_RoleToUser_B_fkey" FOREIGN KEY ("B") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

-- CreateIndex
CREATE UNIQUE INDEX "User_username_key" ON "User"("username");

-- CreateIndex
CREATE UNIQUE INDEX "Password_userId_key" ON "Password"("userId");

-- CreateIndex
CREATE INDEX "Note_ownerId_idx" ON "Note"("ownerId");

-- CreateIndex
CREATE UNIQUE INDEX "Permission_action_entity_access_key" ON "Permission"("action", "entity", "access");

-- CreateIndex
CREATE UNIQUE INDEX "Role_name_key" ON "Role"("name");

-- CreateIndex
CREATE UNIQUE INDEX "_PermissionToRole_AB_unique" ON "_PermissionToRole"("A", "B");

-- CreateIndex
CREATE INDEX "_PermissionToRole_B_index" ON "_PermissionToRole"("B");

-- CreateIndex
CREATE UNIQUE INDEX "_RoleToUser_AB_unique" ON "_RoleToUser"("A", "B");

-- CreateIndex
CREATE INDEX "_RoleToUser_B_index" ON "_RoleToUser"("B");

-- Roles and permissions, seeded here as the Epic Stack seeds them: by INSERTs in the first
-- migration, so every database (and every replica) has them the moment the schema exists.
-- Permissions are action × entity × access; "admin" gets every "any", "user" every "own".
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_create_user_own', 'create', 'user', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_create_user_any', 'create', 'user', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_read_user_own', 'read', 'user', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_read_user_any', 'read', 'user', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_update_user_own', 'update', 'user', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_update_user_any', 'update', 'user', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_delete_user_own', 'delete', 'user', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_delete_user_any', 'delete', 'user', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_create_note_own', 'create', 'note', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_create_note_any', 'create', 'note', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_read_note_own', 'read', 'note', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_read_note_any', 'read', 'note', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_update_note_own', 'update', 'note', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_update_note_any', 'update', 'note', 'any', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_delete_note_own', 'delete', 'note', 'own', '', 1767225600000, 1767225600000);
INSERT INTO "Permission" ("id", "action", "entity", "access", "description", "createdAt", "updatedAt") VALUES ('perm_delete_note_any', 'delete', 'note', 'any', '', 1767225600000, 1767225600000);

INSERT INTO "Role" ("id", "name", "description", "createdAt", "updatedAt") VALUES ('role_admin', 'admin', '', 1767225600000, 1767225600000);
INSERT INTO "Role" ("id", "name", "description", "createdAt", "updatedAt") VALUES ('role_user', 'user', '', 1767225600000, 1767225600000);

INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_create_user_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_read_user_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_update_user_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_delete_user_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_create_note_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_read_note_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_update_note_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_delete_note_any', 'role_admin');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_create_user_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_read_user_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_update_user_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_delete_user_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_create_note_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_read_note_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_update_note_own', 'role_user');
INSERT INTO "_PermissionToRole" ("A", "B") VALUES ('perm_delete_note_own', 'role_user');
