use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "categories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Whose it is: the subject of the token that created it.
    pub owner_id: String,
    pub name: String,
    /// Lower-cased `name`; its unique index makes names unique case-insensitively
    /// on every backend, whatever its collation.
    #[sea_orm(unique)]
    pub name_key: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::task_category::Entity")]
    TaskCategory,
}

impl Related<super::task_category::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TaskCategory.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
